"""Resident portal pages of the identity domain."""

from django.urls import URLPattern, URLResolver, path

from kiban.portal import identity_views as views

urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", views.login_page, name="login"),
    path("login/demo/", views.demo_login, name="demo-login"),
    path("logout/", views.logout_page, name="logout"),
    path("mypage/", views.mypage, name="mypage"),
    path("mypage/documents/<int:doc_id>/", views.download_document, name="document"),
    path("juminhyo/", views.juminhyo_request, name="juminhyo"),
    path("juminhyo/confirm/", views.juminhyo_confirm, name="juminhyo-confirm"),
    path("identity/demo-ca.crl", views.demo_crl, name="demo-crl"),
]
