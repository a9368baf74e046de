from django.urls import include, path

from kiban.console import views

app_name = "console"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("otp/", views.otp_view, name="otp"),
    path("logout/", views.logout_view, name="logout"),
    path("audit/", views.audit_list, name="audit"),
    path("admin/", views.admin_home, name="admin"),
    path("platform/", views.platform, name="platform"),
    # Each domain's console pages live in their own module.
    path("registry/", include("kiban.console.registry_urls")),
    path("identity/", include("kiban.console.identity_urls")),
    path("applications/", include("kiban.console.procedures_urls")),
    path("benefits/", include("kiban.console.benefits_urls")),
]
