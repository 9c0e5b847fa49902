// Exchange the bearer token for the page's session cookie (HttpOnly, SameSite=Strict), then
// open the page. The token itself is sent once, in the Authorization header, never stored.
"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = document.getElementById("token").value.trim();
  const error = document.getElementById("error");
  error.textContent = "";
  const resp = await fetch("/api/v1/session", {
    method: "POST",
    headers: { Authorization: "Bearer " + token },
    credentials: "same-origin",
  });
  if (resp.ok) {
    window.location.replace("/");
  } else {
    error.textContent = resp.status === 401 ? "That token is not valid." : "Sign-in failed (" + resp.status + ").";
  }
});
