"""Browser tests: headless Chromium (Debian's) driven through Playwright against a real server."""
