<?php
// The PHP-FPM echo: the request body back as the response body.
header('Content-Type: application/octet-stream');
echo file_get_contents('php://input');
