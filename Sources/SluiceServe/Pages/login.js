// The sign-in page: says so when the token given was refused (/login?failed).
if (new URLSearchParams(location.search).has("failed")) {
  document.getElementById("login-failed").hidden = false;
}
