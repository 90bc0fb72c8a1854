"""Site-wide security: sign-in rules, second factors, step-up, session limits."""
