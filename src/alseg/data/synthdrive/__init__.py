"""``synthdrive``: procedurally rendered driving videos with Cityscapes trainId labels.

Every drive is its own world: a curved road (city street, highway or country road) lined with
buildings, walls, vegetation, poles and signs, with traffic, pedestrians and, in cities,
intersections with traffic lights and crossing persons. A forward-moving camera renders each frame
by projecting the ground plane row by row and drawing boxes (objects in road coordinates) from far
to near. Lighting (day, dusk, night), weather (clear, fog, rain), palette, texture noise and blur
vary per drive. Frames are deterministic per ``(seed, drive, frame)``; nothing is written to disk.

Road coordinates: ``s`` metres along the road, ``u`` metres to the right of its centre line, ``h``
metres above the ground. Time ``t`` is the frame number.
"""

from alseg.data.synthdrive.dataset import SynthDrive, create

__all__ = ["SynthDrive", "create"]
