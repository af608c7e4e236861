"""End-to-end, issue 11 item 3: what the broker and the gateway create under var/ (database,
gateway.secret, the gateway's self-signed certificate and key) is the owner's alone."""
import os
import stat
import unittest

from mailbus_test.gateway import Stack, wait_for


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class VarFiles(unittest.TestCase):
    def test_var_is_0700_and_every_file_the_programs_make_in_it_0600(self):
        with Stack() as stack:
            self.assertEqual(stack.count(), 0)  # the stack answers
            names = ["mailbus.db", "mailbus.db-wal", "mailbus.db-shm", "mailbus.db.lock", "gateway.secret",
                     "gateway-cert.pem", "gateway-key.pem"]
            wait_for(lambda: all(os.path.exists(os.path.join(stack.var, n)) for n in names), what="var files")
            self.assertEqual(oct(mode(stack.var)), oct(0o700))
            for name in names:
                self.assertEqual(oct(mode(os.path.join(stack.var, name))), oct(0o600), name)


if __name__ == "__main__":
    unittest.main()
