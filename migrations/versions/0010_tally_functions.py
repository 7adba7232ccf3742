"""record_ballot and close_tally: the only ways a tally or an electorate's choices change

The service's role may insert a vote's frozen electorate and its tally when the vote opens, but
never update or delete them: a ballot moves them through `record_ballot`, which derives the
ballot's households from the frozen owner roll, locks them, computes what the ballot moves from
their previous choices and writes the ballot, the choices and the tally together; a close seals
the tally through `close_tally`. Both run as the tables' owner (SECURITY DEFINER) with a fixed
search path. The delta is the one `models.vote_rules.ballot_delta` defines, which the tests hold it
to.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RECORD_BALLOT = """
CREATE FUNCTION record_ballot(
    p_ballot uuid, p_vote uuid, p_person uuid, p_choice text, p_receipt text,
    OUT out_id uuid, OUT out_cast_at timestamptz, OUT out_households uuid[], OUT out_tallies int
)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_compound uuid;
    d record;
BEGIN
    IF p_choice IS NULL OR p_choice NOT IN ('AGREE', 'DISAGREE', 'ABSTAIN') THEN
        RAISE EXCEPTION 'record_ballot: invalid choice %', p_choice USING ERRCODE = '22023';
    END IF;
    -- the caller's households of the frozen roll, locked in household order: two owners of one
    -- household cast one after the other, and the second sees the first's choice
    SELECT array_agg(mine.household_id ORDER BY mine.household_id) INTO out_households
    FROM (
        SELECT e.household_id FROM vote_electorate e
        JOIN vote_owner o ON o.vote_id = e.vote_id AND o.household_id = e.household_id
        WHERE e.vote_id = p_vote AND o.person_id = p_person
        ORDER BY e.household_id
        FOR UPDATE OF e
    ) mine;
    IF out_households IS NULL THEN
        RAISE EXCEPTION 'record_ballot: % owns no household of vote %', p_person, p_vote
            USING ERRCODE = '42501';
    END IF;
    SELECT compound_id INTO STRICT v_compound FROM vote WHERE id = p_vote;
    -- each household moves its area from its previous choice (or none) to the new one; each head
    -- (owners with equal sets count once) moves as a whole
    WITH touched AS (
        SELECT area, head, choice AS before FROM vote_electorate
        WHERE vote_id = p_vote AND household_id = ANY (out_households)
    ), heads AS (
        SELECT DISTINCT ON (head) head, before FROM touched ORDER BY head
    ), areas AS (
        SELECT
            coalesce(sum(area) FILTER (WHERE before IS NULL), 0) AS participating,
            coalesce(sum(area) FILTER (WHERE p_choice = 'AGREE'), 0)
                - coalesce(sum(area) FILTER (WHERE before = 'AGREE'), 0) AS agree,
            coalesce(sum(area) FILTER (WHERE p_choice = 'DISAGREE'), 0)
                - coalesce(sum(area) FILTER (WHERE before = 'DISAGREE'), 0) AS disagree,
            coalesce(sum(area) FILTER (WHERE p_choice = 'ABSTAIN'), 0)
                - coalesce(sum(area) FILTER (WHERE before = 'ABSTAIN'), 0) AS abstain
        FROM touched
    ), counts AS (
        SELECT
            count(*) FILTER (WHERE before IS NULL) AS participating,
            count(*) FILTER (WHERE p_choice = 'AGREE') - count(*) FILTER (WHERE before = 'AGREE') AS agree,
            count(*) FILTER (WHERE p_choice = 'DISAGREE')
                - count(*) FILTER (WHERE before = 'DISAGREE') AS disagree,
            count(*) FILTER (WHERE p_choice = 'ABSTAIN')
                - count(*) FILTER (WHERE before = 'ABSTAIN') AS abstain
        FROM heads
    )
    SELECT areas.participating AS pa, areas.agree AS aa, areas.disagree AS da, areas.abstain AS ba,
           counts.participating AS ph, counts.agree AS ah, counts.disagree AS dh, counts.abstain AS bh
    INTO d FROM areas, counts;

    INSERT INTO ballot (id, vote_id, compound_id, person_id, choice, household_ids, receipt_hash)
    VALUES (p_ballot, p_vote, v_compound, p_person, p_choice, out_households, p_receipt)
    RETURNING id, cast_at INTO out_id, out_cast_at;

    UPDATE vote_electorate SET choice = p_choice, ballot_id = p_ballot
    WHERE vote_id = p_vote AND household_id = ANY (out_households);

    -- moved only while the vote is not closed: a ballot racing the close moves nothing, and the
    -- caller rolls back
    UPDATE vote_tally SET
        ballots_cast = ballots_cast + 1,
        participating_area = participating_area + d.pa,
        participating_headcount = participating_headcount + d.ph,
        agree_area = agree_area + d.aa,
        agree_headcount = agree_headcount + d.ah,
        disagree_area = disagree_area + d.da,
        disagree_headcount = disagree_headcount + d.dh,
        abstain_area = abstain_area + d.ba,
        abstain_headcount = abstain_headcount + d.bh
    WHERE vote_id = p_vote AND NOT closed;
    GET DIAGNOSTICS out_tallies = ROW_COUNT;
END
$$
"""

CLOSE_TALLY = """
CREATE FUNCTION close_tally(p_vote uuid) RETURNS SETOF vote_tally
LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    UPDATE vote_tally SET closed = true WHERE vote_id = p_vote AND NOT closed RETURNING *
$$
"""

FUNCTIONS = ("record_ballot(uuid, uuid, uuid, text, text)", "close_tally(uuid)")


def upgrade() -> None:
    op.execute(RECORD_BALLOT)
    op.execute(CLOSE_TALLY)
    for signature in FUNCTIONS:
        # granted to the service's role by `qilijia migrate` (app.migrate), to nobody else
        op.execute(f"REVOKE EXECUTE ON FUNCTION {signature} FROM PUBLIC")


def downgrade() -> None:
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
