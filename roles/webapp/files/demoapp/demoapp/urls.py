from django.urls import path

from notes import views

urlpatterns = [
    path("healthz", views.healthz),
    path("notes", views.notes),
    path("notes/slow", views.slow_note),
    path("notes/steps", views.steps),
]
