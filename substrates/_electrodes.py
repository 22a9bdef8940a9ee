class ElectrodeArray:  # placeholder until the electrode helper lands
    pass
