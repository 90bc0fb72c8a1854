"""The internal (provider) site. Everything here lives under /internal/ so the customer
deployment, which never includes this module, cannot route any of it."""

from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("internal/admin/", admin.site.urls),
]
