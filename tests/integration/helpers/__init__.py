"""Shared helpers of the integration tests: a DNS server, origin servers, the egressd
launcher and HTTP clients. Standard library only, loopback only, every wait bounded."""
