-- The API's record of a request cannot pass for an operator's act (fifth review, Low).
--
-- keeper.record_audit is the API's (0008, moved by 0014), and every column of its row is the
-- caller's to choose: the API's login could write a row the same as the one
-- keeper.record_operator_act writes inside the operator's functions (0020), e.g. "key
-- backdoor revoked by deleton_operator_login". The API records requests, whose path is a
-- route and always begins with "/"; an operator's act names its command ("api-key",
-- "users", "login-link", "screen-link"), which never does. So record_audit refuses any path
-- that does not begin with "/", and the two kinds of row stay apart.
--
-- Needs the administrator (`deleton db init`): it acts as deleton_keeper, the function's owner.

RESET ROLE;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'deleton_keeper', 'USAGE') THEN
        BEGIN
            EXECUTE format('GRANT deleton_keeper TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'migration 0021 changes the keeper''s audit function: run'
                            ' `deleton db init` as the administrator'
                USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
END $$;

SET ROLE deleton_keeper;
-- CREATE OR REPLACE keeps the owner and the grants (EXECUTE: deleton_api alone).
CREATE OR REPLACE FUNCTION keeper.record_audit(p_key_name text, p_method text, p_path text,
                                               p_status integer, p_client text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF p_path IS NULL OR left(p_path, 1) <> '/' THEN
        RAISE EXCEPTION 'the API records requests, whose path begins with "/"'
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO keeper.audit (key_name, method, path, status, client)
    VALUES (left(p_key_name, 80), left(p_method, 16), left(p_path, 2000), p_status,
            left(p_client, 100));
END $$;
RESET ROLE;
