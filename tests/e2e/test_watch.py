"""Live notifications: every `mailbus-sub watch` terminal of a mailbox prints each new message,
and keeps doing so across a broker restart, without printing anything twice."""
import unittest

from mailbus_test.broker import BOB, CAROL, MailbusTestCase

RECONNECT_DEADLINE = 60.0


def new_line_for(subject):
    return lambda line: line.startswith("NEW") and ('subject="%s"' % subject in line or line.endswith(subject))


class Watch(MailbusTestCase):

    def publish(self, to, subject):
        rc, out, err = self.pub("-t", to, "-s", subject, "-m", "body of " + subject)
        self.assertEqual(rc, 0, out + err)

    def assert_each_printed_once(self, watcher, subjects):
        for subject in subjects:
            self.assertEqual(watcher.count(new_line_for(subject)), 1,
                             "%r printed other than once: %r" % (subject, watcher.lines))

    def two_watchers_survive_restart(self, kill):
        self.start_broker()
        watchers = [self.watch(BOB), self.watch(BOB)]
        for w in watchers:
            w.wait_for("watching bob@demo.test")

        self.publish(BOB, "before restart")
        for w in watchers:
            self.assertTrue(w.wait_for(new_line_for("before restart"), what="NEW before restart").startswith("NEW"))

        self.broker.restart(kill=kill)

        # published before the watchers are back: they catch up (LIST), each message once
        self.publish(BOB, "while reconnecting")
        for w in watchers:
            w.wait_for(new_line_for("while reconnecting"), RECONNECT_DEADLINE, "NEW while reconnecting")
            w.wait_for("reconnected", RECONNECT_DEADLINE)

        # and once back, the live push works again
        self.publish(BOB, "after restart")
        for w in watchers:
            w.wait_for(new_line_for("after restart"), 30, "NEW after restart")

        for w in watchers:
            self.assert_each_printed_once(w, ["before restart", "while reconnecting", "after restart"])
            self.assertEqual(w.count(lambda l: l.startswith("NEW")), 3, w.lines)
            self.assertIsNone(w.proc.poll(), "watcher exited: %s" % w.stderr_text())

    def test_two_watchers_print_new_mail_and_again_after_broker_terminate_and_restart(self):
        self.two_watchers_survive_restart(kill=False)

    def test_two_watchers_print_new_mail_and_again_after_broker_kill_9_and_restart(self):
        self.two_watchers_survive_restart(kill=True)

    def test_watcher_shows_only_its_own_mailbox(self):
        self.start_broker()
        bob = self.watch(BOB)
        carol = self.watch(CAROL)
        bob.wait_for("watching bob@demo.test")
        carol.wait_for("watching carol@demo.test")
        self.publish(CAROL, "for carol only")
        self.publish(BOB, "for bob only")
        bob.wait_for(new_line_for("for bob only"))
        carol.wait_for(new_line_for("for carol only"))
        self.assertEqual(bob.count(new_line_for("for carol only")), 0, bob.lines)
        self.assertEqual(carol.count(new_line_for("for bob only")), 0, carol.lines)

    def test_watcher_started_later_shows_waiting_mail_once_then_new_mail(self):
        self.start_broker()
        self.publish(BOB, "waiting already")
        w = self.watch(BOB)
        w.wait_for("watching bob@demo.test")
        self.publish(BOB, "arrived live")
        w.wait_for(new_line_for("arrived live"))
        self.assertEqual(w.count(new_line_for("arrived live")), 1, w.lines)
        # mail that was waiting is shown at most once (the catch-up of a starting watcher)
        self.assertLessEqual(w.count(new_line_for("waiting already")), 1, w.lines)

    def test_many_messages_in_a_burst_are_each_printed_once_by_both_watchers(self):
        self.start_broker()
        watchers = [self.watch(BOB), self.watch(BOB)]
        for w in watchers:
            w.wait_for("watching bob@demo.test")
        burst = 100   # more than the default credit window (64): the watcher must return credit
        args = []
        for i in range(burst):
            rc, out, err = self.pub("-t", BOB, "-s", "burst %03d" % i, "-m", "x")
            self.assertEqual(rc, 0, out + err)
        for w in watchers:
            w.wait_for(new_line_for("burst %03d" % (burst - 1)), 60)
            for i in range(burst):
                self.assertEqual(w.count(new_line_for("burst %03d" % i)), 1,
                                 "burst %03d: %r" % (i, w.lines[-20:]))


if __name__ == "__main__":
    unittest.main()
