-- Identity trust (docs/identity.md): whether an identity was verified when it was attached (the
-- provider authenticated it, or an operator linked it) or only asserted (typed in a form, an
-- e-mail without a passing SPF/DKIM result). Replies go only to verified or operator links.
-- Every identity stored before this version came through plain matching: verified.
ALTER TABLE identities ADD COLUMN verified INTEGER NOT NULL DEFAULT 1 CHECK (verified IN (0, 1));
