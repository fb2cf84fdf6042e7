"""Unit tests of app/streaming: frames, the replay window, catch-up and the fan-out to sockets."""
