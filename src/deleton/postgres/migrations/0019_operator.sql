-- The operator's own login: making keys, accounts, sign-in links and screens leaves the writer.
--
-- The part marked [built] runs here (the role, the key functions); the parts marked [0020]
-- were designed here and are built by 0020_keeper_accounts.sql, whose header describes the
-- finished state (the tests are in tests/integration/test_roles.py).
--
-- Finding (review 4, Medium; Issue 17): deleton_writer is ingestion's and compression's login,
-- the process that parses every bike's bytes. 0014 granted it EXECUTE on keeper.create_api_key,
-- keeper.revoke_api_key and keeper.api_keys, and it owns historical.account, login_link,
-- dashboard_session, screen, sign_in_failure and sign_in_secret (0009, 0010), because
-- `deleton api-key`, `users`, `login-link` and `screen-link` run with the writer's URL
-- (README "Who may see what"; deploy/terraform/ecs.tf gives the admin task the writer's URL).
-- So whoever takes over ingestion mints a key of every scope (read, personal, erase) or adds
-- a dashboard admin. (Attack: review3's test_the_writer_cannot_mint_itself_a_key.)
--
-- Design:
--
--   deleton_operator         a group role, NOLOGIN, like the other three. Its login
--                            deleton_operator_login is made by `deleton db init` from
--                            DELETON_DB_OPERATOR_PASSWORD (schema.LOGINS gains "operator";
--                            ensure_logins is unchanged: login, search_path, GRANT of the group).
--                            The operator is a person at the CLI, not a service: nothing that
--                            reads the network or the topic runs with it.
--
--   keys                     EXECUTE on keeper.create_api_key, keeper.revoke_api_key and
--                            keeper.api_keys revoked from deleton_writer, granted to
--                            deleton_operator, with USAGE on schema keeper. The writer keeps
--                            USAGE on keeper only if something else of it needs it (nothing
--                            does after this: revoke it too). [built]
--
--   key audit                create_api_key and revoke_api_key append to keeper.audit
--                            (key_name = the key's name, method 'CREATE' / 'REVOKE', path
--                            'api-key', status 1 if it happened else 0, client = session_user),
--                            inside the definer function so no caller can skip it. keeper.audit
--                            stays append-only for every login (0012's test). [0020]
--
--   sign-in tables           historical.account, login_link, dashboard_session, screen,
--                            sign_in_failure, sign_in_secret move to schema keeper with
--                            ALTER TABLE ... SET SCHEMA as deleton_keeper after ALTER TABLE ...
--                            OWNER TO deleton_keeper (the writer owns them today, so the owner
--                            change runs as the administrator, like 0014). Why keeper and not a
--                            schema of the operator's: the writer owns schema historical and so
--                            could drop these tables whoever owns them (0014's lesson); the
--                            operator must not own its own tables either, or its login could
--                            rewrite sessions, so every write goes through a definer function.
--                            [0020]
--
--   the dashboard (reader)   historical.password_salt, sign_in_password, consume_login_link,
--                            start_session, session_role, end_session, screen_generation move
--                            to keeper (ALTER FUNCTION ... SET SCHEMA, owner deleton_keeper,
--                            bodies renamed to keeper.*, search_path pg_catalog, pg_temp);
--                            EXECUTE stays with deleton_reader alone. accounts.py then names
--                            keeper.* (one place: the reader side of accounts.py). [0020]
--
--   the CLI (operator)       new definer functions, EXECUTE to deleton_operator only, one per
--                            thing accounts.py does with a bare statement today:
--                              keeper.add_account(name, role, password_hash) -> boolean
--                              keeper.set_password(name, password_hash) -> boolean
--                                  (new session_key, ends the sessions, clears failures)
--                              keeper.remove_account(name) -> (removed boolean, ended integer)
--                              keeper.accounts() -> (name, role, by_password, created_at)
--                                  (never the hash)
--                              keeper.add_login_link(name, digest, seconds) -> timestamptz
--                                  (also prunes links expired a day ago)
--                              keeper.open_screen(kind, target) -> integer (generation)
--                              keeper.revoke_screen(kind, target) -> boolean
--                            each appending to keeper.audit like the key functions. The writer
--                            gets none of them. [0020]
--
-- Which login each command uses (settings.database(login) has "operator"):
--
--   deleton api-key          [built] DELETON_OPERATOR_DATABASE_URL, connecting with
--                            DELETON_DB_OPERATOR_PASSWORD when that URL carries none (the admin
--                            task: its PGPASSWORD is the writer's); unset, DELETON_DATABASE_URL,
--                            which `deleton up` gives (the embedded superuser, which may do
--                            everything). Set, the config has migrates=False, like the reader's
--                            and the API's: the operator's login checks the migrations
--                            (schema.check) and never applies them.
--   deleton users, login-link, screen-link
--                            the same, once the sign-in tables move [0020]; until then
--                            DELETON_DATABASE_URL, the writer's.
--   deleton ingest, jobs (compression)
--                            DELETON_DATABASE_URL, the writer's: it can make no key [built] and,
--                            once the tables move, touch no account [0020].
--   deleton db init          DELETON_DATABASE_URL, the administrator's, with
--                            DELETON_DB_OPERATOR_PASSWORD beside the other three. [built]
--
-- Terraform (deploy/terraform) [built]: rds.tf has a fifth login, "operator", in db_users and
--   logins (its random password secret, its URL secret without the password); the migrate task
--   gets DELETON_DB_OPERATOR_PASSWORD through the logins loop; the admin task gets
--   DELETON_OPERATOR_DATABASE_URL and DELETON_DB_OPERATOR_PASSWORD beside the writer's URL and
--   PGPASSWORD. [0020] the admin task drops the writer's two secrets and
--   takes the operator's as PGPASSWORD, so no task but ingest and compress holds the writer's.
-- docker-compose.yml [built]: an x-logins operator URL and migrate's
--   DELETON_DB_OPERATOR_PASSWORD. README [built]: the settings, roles and secrets tables.
--
-- Like 0014 it needs the administrator (`deleton db init`): it creates a role and changes
-- owners of the writer's tables.

-- [built] the role and the keys. As the administrator: a writer's login that ran this would
-- have its REVOKE and GRANT on the keeper's functions end in a mere warning (not the owner),
-- and the migration would be recorded as done with the writer still making keys.
RESET ROLE;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'deleton_keeper', 'USAGE') THEN
        BEGIN
            EXECUTE format('GRANT deleton_keeper TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'migration 0019 moves the API''s keys to the operator''s login: run'
                            ' `deleton db init` as the administrator'
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
    IF to_regrole('deleton_operator') IS NULL THEN
        BEGIN
            CREATE ROLE deleton_operator NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'migration 0019 creates the operator''s role: run `deleton db init`'
                            ' as the administrator'
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
END $$;

-- the operator's login checks the migrations before it acts (schema.check)
GRANT SELECT ON public.deleton_migration TO deleton_operator;

-- As the keeper, which owns the schema and the functions: its grants are the ones revoked.
SET ROLE deleton_keeper;
REVOKE EXECUTE ON FUNCTION keeper.create_api_key(text, bytea, text[]),
                           keeper.revoke_api_key(text),
                           keeper.api_keys()
    FROM deleton_writer;
REVOKE USAGE ON SCHEMA keeper FROM deleton_writer;
GRANT USAGE ON SCHEMA keeper TO deleton_operator;
GRANT EXECUTE ON FUNCTION keeper.create_api_key(text, bytea, text[]),
                          keeper.revoke_api_key(text),
                          keeper.api_keys()
    TO deleton_operator;
RESET ROLE;
