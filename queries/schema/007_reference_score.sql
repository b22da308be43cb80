-- Reference profiles may carry the model's score distribution (heron.log_reference(scores=...)):
-- kind 'score' joins the enum (an enum extension changes metadata only; rows are not rewritten).
ALTER TABLE {{db}}.ml_reference_profile {{on_cluster}}
    MODIFY COLUMN kind Enum8('numeric' = 1, 'categorical' = 2, 'prediction' = 3, 'label' = 4, 'score' = 5);
