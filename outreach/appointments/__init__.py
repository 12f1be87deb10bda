"""Appointments: service points, booking, reminders, attendance and service records."""
