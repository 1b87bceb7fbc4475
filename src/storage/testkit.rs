//! The backend test kit (to be written).
