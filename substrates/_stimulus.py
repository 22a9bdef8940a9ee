class Stimulus:  # placeholder until the stimulus helper lands
    pass
