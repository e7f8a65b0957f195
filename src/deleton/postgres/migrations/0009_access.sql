-- Who may sign in to the dashboard, and which screens may show a bike (README: Access).
--
--   historical.account      built-in accounts: a name, a role, an argon2id hash (none: the
--                           account signs in by one-time link only)
--   historical.login_link   one-time sign-in links: the SHA-256 of each, never the link; used
--                           once, within its ten minutes
--   historical.screen       each screen's generation of links: revoking moves it on, and every
--                           link of an older generation stops working
--
-- `deleton users`, `login-link` and `screen-link` write them with the writer's (or the
-- administrator's) login. The dashboard's login, deleton_reader, reads none of them: it calls
-- the definer functions below, granted to it alone, which compare a password's hash without
-- handing the stored one out, use a link once, and tell a screen's current generation.
CREATE TABLE historical.account (
    name text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    role text NOT NULL CHECK (role IN ('staff', 'admin')),
    password_hash text CHECK (password_hash LIKE '$argon2id$%'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE historical.login_link (
    digest bytea PRIMARY KEY CHECK (length(digest) = 32),
    name text NOT NULL REFERENCES historical.account (name) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX login_link_name ON historical.login_link (name);

CREATE TABLE historical.screen (
    kind text NOT NULL CHECK (kind IN ('bike', 'leaderboard')),
    target text NOT NULL CHECK (target ~ '^([A-Za-z0-9][A-Za-z0-9_-]{0,63})?$'),
    generation integer NOT NULL DEFAULT 1 CHECK (generation >= 1),
    revoked_at timestamptz,
    PRIMARY KEY (kind, target)
);

ALTER TABLE historical.account OWNER TO deleton_writer;
ALTER TABLE historical.login_link OWNER TO deleton_writer;
ALTER TABLE historical.screen OWNER TO deleton_writer;
REVOKE ALL ON historical.account, historical.login_link, historical.screen
    FROM PUBLIC, deleton_reader, deleton_api;

-- A stored hash without its final field (algorithm, parameters, salt): the dashboard hashes
-- the password typed with them, and check_password compares. NULL: no such account, or one
-- that signs in by link only.
CREATE FUNCTION historical.password_salt(p_name text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT regexp_replace(password_hash, '\$[^$]*$', '') FROM historical.account
    WHERE name = p_name AND password_hash IS NOT NULL
$$;

-- The account's role when p_hash is its password's hash; NULL otherwise.
CREATE FUNCTION historical.check_password(p_name text, p_hash text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT role FROM historical.account WHERE name = p_name AND password_hash = p_hash
$$;

-- Uses a one-time link: the account and its role, once, while the link has not expired. Two
-- uses at once: the second waits for the first's row lock, then finds the link used.
CREATE FUNCTION historical.consume_login_link(p_digest bytea)
RETURNS TABLE (name text, role text)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    UPDATE historical.login_link l SET used_at = now()
    FROM historical.account a
    WHERE l.digest = p_digest AND l.used_at IS NULL AND l.expires_at > now()
      AND a.name = l.name
    RETURNING a.name, a.role
$$;

-- An account's role now (NULL: removed), so a removed account's sessions end.
CREATE FUNCTION historical.account_role(p_name text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT role FROM historical.account WHERE name = p_name
$$;

-- The generation of links a screen accepts now; NULL when it is revoked or was never made.
CREATE FUNCTION historical.screen_generation(p_kind text, p_target text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT generation FROM historical.screen
    WHERE kind = p_kind AND target = p_target AND revoked_at IS NULL
$$;

ALTER FUNCTION historical.password_salt(text) OWNER TO deleton_writer;
ALTER FUNCTION historical.check_password(text, text) OWNER TO deleton_writer;
ALTER FUNCTION historical.consume_login_link(bytea) OWNER TO deleton_writer;
ALTER FUNCTION historical.account_role(text) OWNER TO deleton_writer;
ALTER FUNCTION historical.screen_generation(text, text) OWNER TO deleton_writer;
REVOKE ALL ON FUNCTION historical.password_salt(text), historical.check_password(text, text),
    historical.consume_login_link(bytea), historical.account_role(text),
    historical.screen_generation(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION historical.password_salt(text), historical.check_password(text, text),
    historical.consume_login_link(bytea), historical.account_role(text),
    historical.screen_generation(text, text) TO deleton_reader;
