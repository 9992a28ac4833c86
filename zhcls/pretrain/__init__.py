"""Pretraining from zero: vocabulary training, whole-word masking, MLM and ELECTRA loops (issue: pretrain)."""
