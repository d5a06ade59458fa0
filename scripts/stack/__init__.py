"""Run the Marcus stack locally as processes: `python -m scripts.stack up|down|status|logs`.

`up` makes sure the database exists, migrates every service, then starts everything in
the Procfile (plus an nginx gateway when nginx is installed) under supervisord (the
`supervisor` package), detached in a session of its own, and waits until every service
answers /readyz. `down` stops it all (SIGTERM, then SIGKILL after a timeout), leaving no
orphans. State lives in `.data/`.

A process that exits is started again by supervisord while the others keep running
(`autorestart`; one that dies within `startsecs` of its start is retried with a backoff
growing by a second per attempt), and `status` shows each one's state, pid, uptime and
restarts. Each process logs to `.data/logs/<name>.log`, supervisord to
`.data/logs/supervisord.log`.

Modules, one concern each: `config` (paths under `.data/`, `.env`, the processes'
environment), `procfile`, `infrastructure` (PostgreSQL and Redis, embedded when nothing
answers), `migrations` (roles, ACL users, `migrate`), `gateway` (nginx), `supervisor`
(its config, its view, the wait until ready), `processes` (finding and stopping every
process of the stack), `probes`, `status`, `welcome` and `commands` (the command line).
"""
