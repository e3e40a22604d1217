-- A session's tunnel address, so that sessions a connector restart interrupted get their
-- address back when their card reconnects.
ALTER TABLE sessions ADD COLUMN tunnel_address TEXT;
