"""The Flask backend's schema at its last Flask-Migrate revision: the root of this history.

Revision ID: 24091ad94d4c
Revises:
Create Date: 2026-11-29

A database the Flask backend wrote already holds this revision (its `alembic_version` says
24091ad94d4c), so Alembic continues from here; an empty database builds it first and then takes
the same conversion (0001) as an adopted one. The DDL is that backend's `pg_dump --schema-only`,
unchanged but for the version table, which Alembic owns.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "24091ad94d4c"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLASK_SCHEMA = """
CREATE TABLE public."Dealer" (
    id integer NOT NULL,
    dealer_type character varying,
    dealer_name character varying,
    phone character varying,
    email character varying,
    raw_address character varying,
    coordinates jsonb,
    age integer,
    gender character varying,
    purchased_count integer,
    item_count integer,
    created_at timestamp without time zone
);

CREATE TABLE public."Dealer_History" (
    id integer NOT NULL,
    column_name character varying,
    from_value jsonb,
    to_value jsonb,
    recorder_time timestamp without time zone,
    dealer_id integer
);

CREATE SEQUENCE public."Dealer_History_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Dealer_History_id_seq" OWNED BY public."Dealer_History".id;

CREATE TABLE public."Dealer_Notes" (
    id integer NOT NULL,
    subject character varying,
    content character varying,
    created_at timestamp without time zone,
    dealer_id integer
);

CREATE SEQUENCE public."Dealer_Notes_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Dealer_Notes_id_seq" OWNED BY public."Dealer_Notes".id;

CREATE SEQUENCE public."Dealer_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Dealer_id_seq" OWNED BY public."Dealer".id;

CREATE TABLE public."Item" (
    id integer NOT NULL,
    article_number character varying,
    reference_number character varying,
    category character varying,
    type character varying,
    properties jsonb,
    dimensions jsonb,
    issues jsonb,
    parts jsonb,
    missing_parts jsonb,
    purchased_price integer,
    valuation integer,
    sold_price integer,
    metafields jsonb,
    state character varying,
    location character varying,
    images jsonb,
    created_at timestamp without time zone,
    created_by character varying,
    dealer_id integer
);

CREATE TABLE public."Item_History" (
    id integer NOT NULL,
    column_name character varying,
    from_value jsonb,
    to_value jsonb,
    recorded_time timestamp without time zone,
    item_id integer,
    type character varying,
    user_name character varying
);

CREATE SEQUENCE public."Item_History_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Item_History_id_seq" OWNED BY public."Item_History".id;

CREATE TABLE public."Item_Note" (
    id integer NOT NULL,
    note_content character varying,
    creation_time timestamp without time zone,
    subject_id integer
);

CREATE SEQUENCE public."Item_Note_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Item_Note_id_seq" OWNED BY public."Item_Note".id;

CREATE TABLE public."Item_Notes_Subject" (
    id integer NOT NULL,
    subject character varying,
    notes_counter integer
);

CREATE SEQUENCE public."Item_Notes_Subject_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Item_Notes_Subject_id_seq" OWNED BY public."Item_Notes_Subject".id;

CREATE TABLE public."Item_Stats_Current" (
    id integer NOT NULL,
    stats_for character varying,
    category jsonb,
    type jsonb,
    properties jsonb,
    dimensions jsonb,
    issues jsonb,
    parts jsonb,
    missing_parts jsonb,
    purchased_price integer,
    valuation integer,
    sold_price integer,
    state jsonb,
    location jsonb
);

CREATE SEQUENCE public."Item_Stats_Current_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Item_Stats_Current_id_seq" OWNED BY public."Item_Stats_Current".id;

CREATE SEQUENCE public."Item_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Item_id_seq" OWNED BY public."Item".id;

CREATE TABLE public."Items_Notes" (
    item_id integer NOT NULL,
    note_id integer NOT NULL
);

CREATE TABLE public."Role" (
    id integer NOT NULL,
    role character varying NOT NULL,
    key character varying NOT NULL,
    metafields jsonb
);

CREATE SEQUENCE public."Role_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."Role_id_seq" OWNED BY public."Role".id;

CREATE TABLE public."User" (
    id integer NOT NULL,
    username character varying NOT NULL,
    email character varying NOT NULL,
    phone character varying NOT NULL,
    password character varying NOT NULL,
    profile_picture character varying,
    metafields jsonb
);

CREATE SEQUENCE public."User_id_seq"
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public."User_id_seq" OWNED BY public."User".id;

CREATE TABLE public.user_roles (
    user_id integer NOT NULL,
    role_id integer NOT NULL
);

ALTER TABLE ONLY public."Dealer" ALTER COLUMN id SET DEFAULT nextval('public."Dealer_id_seq"'::regclass);

ALTER TABLE ONLY public."Dealer_History" ALTER COLUMN id SET DEFAULT nextval('public."Dealer_History_id_seq"'::regclass);

ALTER TABLE ONLY public."Dealer_Notes" ALTER COLUMN id SET DEFAULT nextval('public."Dealer_Notes_id_seq"'::regclass);

ALTER TABLE ONLY public."Item" ALTER COLUMN id SET DEFAULT nextval('public."Item_id_seq"'::regclass);

ALTER TABLE ONLY public."Item_History" ALTER COLUMN id SET DEFAULT nextval('public."Item_History_id_seq"'::regclass);

ALTER TABLE ONLY public."Item_Note" ALTER COLUMN id SET DEFAULT nextval('public."Item_Note_id_seq"'::regclass);

ALTER TABLE ONLY public."Item_Notes_Subject" ALTER COLUMN id SET DEFAULT nextval('public."Item_Notes_Subject_id_seq"'::regclass);

ALTER TABLE ONLY public."Item_Stats_Current" ALTER COLUMN id SET DEFAULT nextval('public."Item_Stats_Current_id_seq"'::regclass);

ALTER TABLE ONLY public."Role" ALTER COLUMN id SET DEFAULT nextval('public."Role_id_seq"'::regclass);

ALTER TABLE ONLY public."User" ALTER COLUMN id SET DEFAULT nextval('public."User_id_seq"'::regclass);

ALTER TABLE ONLY public."Dealer_History"
    ADD CONSTRAINT "Dealer_History_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Dealer_Notes"
    ADD CONSTRAINT "Dealer_Notes_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Dealer"
    ADD CONSTRAINT "Dealer_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Item_History"
    ADD CONSTRAINT "Item_History_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Item_Note"
    ADD CONSTRAINT "Item_Note_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Item_Notes_Subject"
    ADD CONSTRAINT "Item_Notes_Subject_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Item_Stats_Current"
    ADD CONSTRAINT "Item_Stats_Current_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Item"
    ADD CONSTRAINT "Item_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Items_Notes"
    ADD CONSTRAINT "Items_Notes_pkey" PRIMARY KEY (item_id, note_id);

ALTER TABLE ONLY public."Role"
    ADD CONSTRAINT "Role_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."Role"
    ADD CONSTRAINT "Role_role_key" UNIQUE (role);

ALTER TABLE ONLY public."User"
    ADD CONSTRAINT "User_pkey" PRIMARY KEY (id);

ALTER TABLE ONLY public."User"
    ADD CONSTRAINT "User_username_key" UNIQUE (username);

ALTER TABLE ONLY public.user_roles
    ADD CONSTRAINT user_roles_pkey PRIMARY KEY (user_id, role_id);

CREATE INDEX idx_dimensions_path_ops ON public."Item" USING gin (dimensions jsonb_path_ops);

CREATE INDEX idx_issues_path_ops ON public."Item" USING gin (issues jsonb_path_ops);

CREATE INDEX idx_metafields_ops ON public."Item" USING gin (metafields);

CREATE INDEX idx_metafields_path_ops ON public."Item" USING gin (metafields jsonb_path_ops);

CREATE INDEX idx_missing_parts_path_ops ON public."Item" USING gin (missing_parts jsonb_path_ops);

CREATE INDEX idx_properties_ops ON public."Item" USING gin (properties);

CREATE INDEX idx_properties_path_ops ON public."Item" USING gin (properties jsonb_path_ops);

CREATE INDEX "ix_Dealer_dealer_name" ON public."Dealer" USING btree (dealer_name);

CREATE INDEX "ix_Dealer_dealer_type" ON public."Dealer" USING btree (dealer_type);

CREATE INDEX "ix_Dealer_email" ON public."Dealer" USING btree (email);

CREATE INDEX "ix_Dealer_item_count" ON public."Dealer" USING btree (item_count);

CREATE INDEX "ix_Dealer_purchased_count" ON public."Dealer" USING btree (purchased_count);

CREATE INDEX "ix_Dealer_raw_address" ON public."Dealer" USING btree (raw_address);

CREATE INDEX "ix_Item_History_column_name" ON public."Item_History" USING btree (column_name);

CREATE INDEX "ix_Item_History_item_id" ON public."Item_History" USING btree (item_id);

CREATE INDEX "ix_Item_History_type" ON public."Item_History" USING btree (type);

CREATE INDEX "ix_Item_Notes_Subject_subject" ON public."Item_Notes_Subject" USING btree (subject);

CREATE INDEX "ix_Item_Stats_Current_stats_for" ON public."Item_Stats_Current" USING btree (stats_for);

CREATE INDEX "ix_Item_article_number" ON public."Item" USING btree (article_number);

CREATE INDEX "ix_Item_category" ON public."Item" USING btree (category);

CREATE INDEX "ix_Item_location" ON public."Item" USING btree (location);

CREATE INDEX "ix_Item_purchased_price" ON public."Item" USING btree (purchased_price);

CREATE INDEX "ix_Item_reference_number" ON public."Item" USING btree (reference_number);

CREATE INDEX "ix_Item_sold_price" ON public."Item" USING btree (sold_price);

CREATE INDEX "ix_Item_state" ON public."Item" USING btree (state);

CREATE INDEX "ix_Item_type" ON public."Item" USING btree (type);

CREATE INDEX "ix_Item_valuation" ON public."Item" USING btree (valuation);

CREATE UNIQUE INDEX "ix_User_email" ON public."User" USING btree (email);

ALTER TABLE ONLY public."Dealer_History"
    ADD CONSTRAINT "Dealer_History_dealer_id_fkey" FOREIGN KEY (dealer_id) REFERENCES public."Dealer"(id);

ALTER TABLE ONLY public."Dealer_Notes"
    ADD CONSTRAINT "Dealer_Notes_dealer_id_fkey" FOREIGN KEY (dealer_id) REFERENCES public."Dealer"(id);

ALTER TABLE ONLY public."Item_History"
    ADD CONSTRAINT "Item_History_item_id_fkey" FOREIGN KEY (item_id) REFERENCES public."Item"(id) ON DELETE CASCADE;

ALTER TABLE ONLY public."Item_Note"
    ADD CONSTRAINT "Item_Note_subject_id_fkey" FOREIGN KEY (subject_id) REFERENCES public."Item_Notes_Subject"(id);

ALTER TABLE ONLY public."Item"
    ADD CONSTRAINT "Item_dealer_id_fkey" FOREIGN KEY (dealer_id) REFERENCES public."Dealer"(id) ON DELETE SET NULL;

ALTER TABLE ONLY public."Items_Notes"
    ADD CONSTRAINT "Items_Notes_item_id_fkey" FOREIGN KEY (item_id) REFERENCES public."Item"(id);

ALTER TABLE ONLY public."Items_Notes"
    ADD CONSTRAINT "Items_Notes_note_id_fkey" FOREIGN KEY (note_id) REFERENCES public."Item_Note"(id);

ALTER TABLE ONLY public.user_roles
    ADD CONSTRAINT user_roles_role_id_fkey FOREIGN KEY (role_id) REFERENCES public."Role"(id);

ALTER TABLE ONLY public.user_roles
    ADD CONSTRAINT user_roles_user_id_fkey FOREIGN KEY (user_id) REFERENCES public."User"(id);
"""

TABLES = (
    "Items_Notes",
    "Item_History",
    "Item",
    "Item_Note",
    "Item_Notes_Subject",
    "Item_Stats_Current",
    "Dealer_Notes",
    "Dealer_History",
    "Dealer",
    "user_roles",
    "Role",
    "User",
)


def statements() -> list[str]:
    """One statement per element (the driver runs one at a time)."""
    return [s.strip() for s in FLASK_SCHEMA.split(";\n") if s.strip()]


def upgrade() -> None:
    for statement in statements():
        op.execute(statement.rstrip(";"))


def downgrade() -> None:
    # Dropping a table drops its owned sequence, indexes and constraints.
    for table in TABLES:
        op.execute(f'DROP TABLE public."{table}"')
