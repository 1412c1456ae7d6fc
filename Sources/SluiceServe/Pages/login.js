// The sign-in page: says so when the token given was refused (/login?failed), and keeps the
// page asked for (/#/alerts…) for after signing in — the form's answer goes to "/".
if (new URLSearchParams(location.search).has("failed")) {
  document.getElementById("login-failed").hidden = false;
}
if (location.hash.startsWith("#/")) {
  try { sessionStorage.setItem("sluice.after-login", location.hash); } catch { /* storage off: "/" it is */ }
}
