-- Which postroomd holds a queued recipient's delivery lease (its data_dir/node.id), so that a
-- daemon restarted after a crash or stopped in order gives back its own leases at once
-- instead of leaving them to run out.
ALTER TABLE queue_recipients ADD COLUMN leased_by text;
CREATE INDEX queue_recipients_leased ON queue_recipients(leased_by) WHERE leased_by IS NOT NULL;
