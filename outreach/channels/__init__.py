"""Delivery channels: turning bot replies into what each transport (SMS, chat) can carry."""
