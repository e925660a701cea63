"""The training loops over the Tinker API: SFT (cross_entropy), DPO (a custom loss) and GRPO
(sampling, rewards, a policy-gradient loss), on the shared machinery of `common`."""
