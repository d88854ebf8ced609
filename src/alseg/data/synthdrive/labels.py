"""The Cityscapes trainIds that synthdrive draws."""

ROAD, SIDEWALK, BUILDING, WALL, POLE, LIGHT, SIGN = 0, 1, 2, 3, 5, 6, 7
VEGETATION, TERRAIN, SKY, PERSON, CAR, TRUCK = 8, 9, 10, 11, 13, 14
USED_CLASS_IDS = (
    ROAD,
    SIDEWALK,
    BUILDING,
    WALL,
    POLE,
    LIGHT,
    SIGN,
    VEGETATION,
    TERRAIN,
    SKY,
    PERSON,
    CAR,
    TRUCK,
)
