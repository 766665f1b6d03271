"""Cycle function of the online-learning core (pure Python): placeholder replaced below."""
