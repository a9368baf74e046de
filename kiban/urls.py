from django.conf import settings
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path

from kiban.api import api
from kiban.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
    path("console/", include("kiban.console.urls")),
    path("", include("kiban.portal.urls")),
]
if settings.DEMO or settings.DEBUG:
    # Demo and test servers (runserver, the test live server) serve the app's static files
    # straight from the package; production serves the collected files with granian.
    urlpatterns.insert(0, re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}))

handler400 = "kiban.core.views.bad_request"
handler403 = "kiban.core.views.forbidden"
handler404 = "kiban.core.views.not_found"
handler500 = "kiban.core.views.server_error"
