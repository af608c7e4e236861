"""Ports for the servers under test, shared by the end-to-end and the gateway tests."""
import random
import socket


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the kernel's ephemeral
    range: a port the kernel hands out (bind to port 0) can be taken by another test's outgoing
    connection before the server under test binds it ("Address already in use")."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    while True:
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
