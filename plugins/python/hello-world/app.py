"""The seed's hello-world service in Python, exporting example:hello/greeter@1.0.0."""

import time

from wit_world import exports
from wit_world.exports.greeter import Greeting


def utc_now() -> str:
    """The current UTC date and time as `YYYY-MM-DD HH:MM:SS` (WASI wall clock)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


class Greeter(exports.Greeter):
    def say_hello(self) -> str:
        return f"Hello, world! {utc_now()}\n"

    def say_hello2(self, name: str) -> Greeting:
        return Greeting(
            date=utc_now(),
            name=name,
            version="1.0.0",
            description="Hello, world!",
            author="ReactPHP X",
            email="support@reactphp-x.com",
            url="https://github.com/reactphp-x",
            license="MIT",
        )
