"""`python -m marcus_web.token --sub alice --role admin`: mint a development JWT."""

from __future__ import annotations

import argparse

from marcus_web.auth import mint_token
from marcus_web.settings import ServiceSettings


def main() -> None:
    parser = argparse.ArgumentParser(description="Mint a development bearer token (HS256).")
    parser.add_argument("--sub", default="dev-admin", help="subject (the customer id)")
    parser.add_argument("--role", action="append", default=[], help="role; repeatable")
    parser.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds")
    parser.add_argument(
        "--email", default="", help="verified e-mail claim (where a customer's e-mails go)"
    )
    args = parser.parse_args()
    settings = ServiceSettings()
    print(
        mint_token(
            args.sub,
            args.role,
            secret=settings.jwt_secret,
            ttl_seconds=args.ttl,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            email=args.email or None,
        )
    )


if __name__ == "__main__":
    main()
