"""mailbus_test — the one harness of the end-to-end tests (tests/e2e, tests/gateway): the real
programs on 127.0.0.1, free ports, a temporary directory, readiness polled with a deadline (never
a fixed sleep), every process stopped by its pid and every directory removed afterwards.

    process      where the programs are; wait_for, run, stop_process, temporary directories
    ports        free_port: a port no other test process running now was given
    broker       the broker and its clients: Broker, MailbusTestCase, RawClient, Watcher
    gateway      a broker with its gateway: Stack, Peer (one domain), Raw (an SMTP line client)
    pop3         Pop3Case and RawPop3 for the POP3 tests
    smtpd        an aiosmtpd server in a child process (the relay's smarthost), make_cert
    mailservers  private Postfix and Dovecot instances (root only)
    netns        two network namespaces joined by a veth pair (root only)

meson puts tests/ on PYTHONPATH; by hand, from tests/e2e or tests/gateway:

    PYTHONPATH=.. MAILBUS_BUILD_DIR=../../build /usr/bin/python3 -m unittest -v test_relay
"""
