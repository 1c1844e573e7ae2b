-- The environments a token may act on: a JSON array of names, or NULL for every environment.
ALTER TABLE api_tokens ADD COLUMN environments TEXT;
