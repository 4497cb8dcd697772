"""GA/T 1400's capture routes, shared by the harvest (parsers/gat1400.py) and the receiver (receiver.py, which
imports no data-frame library, so this module imports nothing)."""

# path → (kind, list envelope, object list, object ID field)
PATHS = {
    "/VIID/MotorVehicles": ("motor_vehicle", "MotorVehicleListObject", "MotorVehicleObject", "MotorVehicleID"),
    "/VIID/Faces": ("face", "FaceListObject", "FaceObject", "FaceID"),
    "/VIID/Persons": ("person", "PersonListObject", "PersonObject", "PersonID"),
    "/VIID/NonMotorVehicles": ("non_motor", "NonMotorVehicleListObject", "NonMotorVehicleObject", "NonMotorVehicleID"),
}
NOTIFICATIONS = "/VIID/SubscribeNotifications"  # a platform's cascade: {SubscribeNotificationListObject: …}
