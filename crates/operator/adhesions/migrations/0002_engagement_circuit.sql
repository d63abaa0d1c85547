-- A convention or charter sent into a circuit of the parapheur: the dossier that carries it
-- (NULL when it is signed on paper and uploaded, or when the circuit was rejected).
ALTER TABLE engagements ADD COLUMN parapheur_dossier TEXT;
