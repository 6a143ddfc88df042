"""The paper's filters: a duration gate, a scene-cut check and a motion check.

Scoring (which needs frames) and thresholding (which needs only scores) are separate, so changing a threshold
never needs a decode.
"""
