"""API doubles: small real HTTP servers on 127.0.0.1 that speak vendor APIs for tests."""
