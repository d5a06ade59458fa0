"""The notifier's admin API."""
