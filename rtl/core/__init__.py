"""The online-learning EGRU core: the blocks of rtl.blocks joined into one learner."""
