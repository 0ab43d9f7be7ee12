"""Single sign-on faces: forward-auth for reverse proxies and the OpenID Connect provider."""
