-- version 6: the broker keeps the mailbox counters of new deliveries itself, one UPDATE per
-- mailbox per transaction instead of one per delivery (and recounts them at every start).
-- Deleting deliveries, by the broker or by hand with sqlite3, still goes through the trigger.
DROP TRIGGER deliveries_count_in;
