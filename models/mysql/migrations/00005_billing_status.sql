-- adnet schema, version 5: when a zone's or a campaign's status last changed, so that the
-- aggregator stops billing a paused or archived zone or campaign from that instant (issue 13:
-- tokens issued before fraud.auto_pause paused a zone billed for the tokens' whole life),
-- while the events before it, read late, still bill.
--
--  * status_changed_at is set by a trigger on every change of status, whatever changes it (the
--    console, the API, fraud.auto_pause, a manual UPDATE), in UTC like every stored time, unless
--    the UPDATE sets it itself: no code path can forget it. NULL for
--    rows whose status never changed since this version: a zone or campaign that is paused or
--    archived already is treated as stopped since forever.

-- +goose Up
ALTER TABLE zones ADD COLUMN status_changed_at DATETIME(6) NULL AFTER status;
ALTER TABLE campaigns ADD COLUMN status_changed_at DATETIME(6) NULL AFTER status;

-- +goose StatementBegin
CREATE TRIGGER zones_status_changed BEFORE UPDATE ON zones FOR EACH ROW
BEGIN
    IF NEW.status <> OLD.status AND NEW.status_changed_at <=> OLD.status_changed_at THEN
        SET NEW.status_changed_at = UTC_TIMESTAMP(6);
    END IF;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER campaigns_status_changed BEFORE UPDATE ON campaigns FOR EACH ROW
BEGIN
    IF NEW.status <> OLD.status AND NEW.status_changed_at <=> OLD.status_changed_at THEN
        SET NEW.status_changed_at = UTC_TIMESTAMP(6);
    END IF;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER campaigns_status_changed;
DROP TRIGGER zones_status_changed;
ALTER TABLE campaigns DROP COLUMN status_changed_at;
ALTER TABLE zones DROP COLUMN status_changed_at;
