"""The broker's files (issue 11, items 3 and 13): the database and everything beside it are the
owner's alone (0700 folder, 0600 files), loose modes left by an older broker are fixed with a
warning naming each file, a folder that is not the database's own is left alone, and the admin
endpoint works whatever the length of the database's path. Real broker processes."""
import os
import re
import shutil
import stat
import unittest

from mailbus_test.broker import ALICE, BOB, BROKER, Broker, MailbusTestCase, message, run, wait_for


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class FileModes(MailbusTestCase):

    def files(self, db):
        """The database's files that exist now, by name"""
        var = os.path.dirname(db)
        names = [db, db + "-wal", db + "-shm", db + ".lock", os.path.join(var, "gateway.secret")]
        return [n for n in names if os.path.exists(n)]

    def publish_one(self):
        status, _ = self.raw(ALICE).request("SEND", ALICE, BOB, message("modes", "kept private"))
        self.assertTrue(status.startswith("250 "), status)

    def test_a_fresh_start_makes_the_folder_0700_and_every_file_0600(self):
        self.broker = Broker(self.tmp)
        os.rmdir(os.path.dirname(self.broker.db))  # the harness made var/; the broker makes it here
        self.broker.start()
        self.publish_one()
        var = os.path.dirname(self.broker.db)
        self.assertEqual(oct(mode(var)), oct(0o700))
        files = self.files(self.broker.db)
        self.assertEqual(len(files), 5, files)  # db, -wal, -shm, .lock, gateway.secret
        for path in files:
            self.assertEqual(oct(mode(path)), oct(0o600), path)
        # the admin socket beside the database too: nobody else may connect to it
        sockets = [n for n in os.listdir(var) if n.endswith(".admin")]
        self.assertEqual(sockets, ["mailbus.db.admin"])
        self.assertEqual(mode(os.path.join(var, sockets[0])) & 0o077, 0)
        self.assertNotIn("mode-fixed", self.broker.log())

    def test_loose_files_and_var_left_by_an_older_broker_are_fixed_with_a_warning_each(self):
        self.start_broker([])
        self.publish_one()
        self.broker.kill9()  # leaves the WAL and the shared memory file behind
        var = os.path.dirname(self.broker.db)
        files = self.files(self.broker.db)
        self.assertEqual(len(files), 5, files)
        for path in files:
            os.chmod(path, 0o644)
        os.chmod(var, 0o755)
        self.broker.start()
        self.assertEqual(oct(mode(var)), oct(0o700))
        log = self.broker.log()
        for path in files:
            self.assertEqual(oct(mode(path)), oct(0o600), path)
            self.assertRegex(log, r'warn store mode-fixed file="%s" was=0644 now=0600' % re.escape(path))
        self.assertRegex(log, r'warn store mode-fixed folder="%s" was=0755 now=0700' % re.escape(var))
        self.assertEqual(self.stat(BOB)[0], 1)  # and nothing lost

    def test_a_database_in_a_folder_that_is_not_its_own_leaves_the_folder_alone(self):
        # like --db /tmp/x.db: the folder holds other things; only the database's files change
        shared = os.path.join(self.tmp, "shared")
        os.mkdir(shared)
        os.chmod(shared, 0o1777)
        db = os.path.join(shared, "x.db")
        # a link someone left in the shared folder is not followed: its target keeps its mode
        target = os.path.join(self.tmp, "someone-elses-file")
        with open(target, "w") as f:
            f.write("not the gateway's secret\n")
        os.chmod(target, 0o644)
        os.symlink(target, os.path.join(shared, "gateway.secret"))
        rc, out, err = run([BROKER, "mailbox", "add", "dave@demo.test", "--password", "pw", "--db", db],
                           cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(oct(mode(shared)), oct(0o1777))
        self.assertEqual(oct(mode(db)), oct(0o600))
        self.assertIn('info store folder-shared folder="%s" mode=1777' % shared, err)
        self.assertEqual(oct(mode(target)), oct(0o644))

    def test_a_folder_named_var_elsewhere_than_the_working_folder_is_not_touched(self):
        other = os.path.join(self.tmp, "elsewhere", "var")
        os.makedirs(other)
        os.chmod(other, 0o755)
        db = os.path.join(other, "mailbus.db")
        rc, out, err = run([BROKER, "mailbox", "list", "--db", db], cwd=self.tmp)
        self.assertEqual(rc, 0, out + err)
        self.assertEqual(oct(mode(other)), oct(0o755))
        self.assertEqual(oct(mode(db)), oct(0o600))


class LongDatabasePath(MailbusTestCase):
    """A database path beyond the 107 octets of sun_path still gets its admin endpoint"""

    def long_db(self):
        deep = self.tmp
        while len(deep) < 190:
            deep = os.path.join(deep, "d" * 20)
        path = os.path.join(deep, "mailbus-with-a-long-name.db")
        self.assertGreaterEqual(len(path), 200)
        return path

    def test_a_200_character_db_path_starts_and_the_admin_cli_talks_to_the_broker(self):
        db = self.long_db()
        # the runtime folder in the test's own directory (broker and CLI inherit it)
        runtime = os.path.join(self.tmp, "run")
        os.mkdir(runtime, 0o700)
        old = os.environ.get("XDG_RUNTIME_DIR")
        os.environ["XDG_RUNTIME_DIR"] = runtime
        self.addCleanup(lambda: os.environ.pop("XDG_RUNTIME_DIR") if old is None
                        else os.environ.__setitem__("XDG_RUNTIME_DIR", old))
        self.broker = Broker(self.tmp)
        self.broker.db = db
        self.broker.start()
        # the server thread answers the readiness probe before the main thread says "started"
        def started_lines():
            return [l for l in self.broker.log().splitlines() if " info broker started " in l]
        wait_for(started_lines, 30, "the broker's started line")
        started = started_lines()
        self.assertEqual(len(started), 1, started)
        endpoint = re.search(r"admin=(ipc://\S+)", started[0]).group(1)
        self.assertLessEqual(len(endpoint) - len("ipc://"), 107, endpoint)
        # the running broker holds the lock: the CLI must reach it over that endpoint
        rc, out, err = self.broker.admin("mailbox", "add", "dave@demo.test", "--password", "pw")
        self.assertEqual(rc, 0, out + err)
        rc, out, err = self.broker.admin("mailbox", "list")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("dave@demo.test", out)
        # its folder is the owner's alone, named by the database, not by anything a user picks
        folder = os.path.dirname(endpoint[len("ipc://"):])
        self.assertEqual(oct(mode(folder)), oct(0o700))
        self.assertEqual(folder, os.path.join(runtime, "mailbus"))
        self.assertEqual(os.stat(folder).st_uid, os.geteuid())

    def test_a_runtime_folder_that_another_could_use_is_refused(self):
        db = self.long_db()
        runtime = os.path.join(self.tmp, "run")
        os.makedirs(os.path.join(runtime, "mailbus"))
        os.chmod(os.path.join(runtime, "mailbus"), 0o755)
        env = dict(os.environ, XDG_RUNTIME_DIR=runtime)
        rc, out, err = run([BROKER, "--db", db, "--bind", "tcp://127.0.0.1:1"], env=env, cwd=self.tmp)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("has mode 0755, others may use it", err)
        # a symbolic link to somebody's folder is no better
        os.rmdir(os.path.join(runtime, "mailbus"))
        os.symlink(self.tmp, os.path.join(runtime, "mailbus"))
        rc, out, err = run([BROKER, "--db", db, "--bind", "tcp://127.0.0.1:1"], env=env, cwd=self.tmp)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("is not a folder of this user's", err)
        # a runtime folder whose own path leaves no room for the socket's name
        long_runtime = os.path.join(self.tmp, "r" * 100)
        os.makedirs(os.path.join(long_runtime, "mailbus"), 0o700)
        env = dict(os.environ, XDG_RUNTIME_DIR=long_runtime)
        rc, out, err = run([BROKER, "--db", db, "--bind", "tcp://127.0.0.1:1"], env=env, cwd=self.tmp)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("the admin socket does not fit in", err)

if __name__ == "__main__":
    unittest.main()
