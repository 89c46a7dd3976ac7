<?php
// The vendor's PHP client as docs/vendor-apis.md describes it (curl, XML-RPC at /xmlrpc/,
// file() at /admin/ with X-VCS-Status), changed only in the host: it runs against Tollgate.
// Usage: php vcsapi.php <host> <port> <login> <password> <dir> [http]
// (the class speaks plain HTTP only on port 80; the optional last argument lets a test
// server on another port be reached over plain HTTP too)

class VcsApiError extends Exception {}
class VcsApiProtocolError extends VcsApiError {}

class VcsApiResponse {
    public $code; public $messages; public $data;
    function __construct($r) {
        $this->code = isset($r['code']) ? $r['code'] : null;
        $this->messages = isset($r['messages']) ? $r['messages'] : array();
        $this->data = isset($r['return']) ? $r['return'] : array();
    }
}

class VcsApiCaller {
    private $api; private $module;
    function __construct($api, $module) { $this->api = $api; $this->module = $module; }
    function __call($action, $args) {
        return $this->api->request($this->module . '.' . $action, isset($args[0]) ? $args[0] : array());
    }
}

class VcsApi {
    public $session_id = null;
    private $url; private $files; private $username; private $password;
    function __construct($host, $username, $password, $port = 443, $plain = false) {
        $scheme = ($port == 80 || $plain) ? 'http://' : 'https://';
        $this->url = "$scheme$host:$port/xmlrpc/";
        $this->files = "$scheme$host:$port/admin/";
        $this->username = $username; $this->password = $password;
    }
    function __get($module) { return new VcsApiCaller($this, $module); }
    private function curl($url, $body, $headers) {
        $c = curl_init($url);
        curl_setopt($c, CURLOPT_POST, 1);
        curl_setopt($c, CURLOPT_POSTFIELDS, $body);
        curl_setopt($c, CURLOPT_HTTPHEADER, $headers);
        curl_setopt($c, CURLOPT_RETURNTRANSFER, 1);
        curl_setopt($c, CURLOPT_TIMEOUT, 60);
        curl_setopt($c, CURLOPT_FOLLOWLOCATION, 1);
        curl_setopt($c, CURLOPT_SSL_VERIFYPEER, 0);
        curl_setopt($c, CURLOPT_SSL_VERIFYHOST, 0);
        return $c;
    }
    function request($method, $params) {
        if ($this->session_id) { $params['SID'] = $this->session_id; }
        else { $params['auth'] = array('login' => $this->username, 'password' => $this->password); }
        $body = xmlrpc_encode_request($method, $params);
        $c = $this->curl($this->url, $body, array('Content-type: text/xml',
            'Content-length: ' . strlen($body), 'Expect:', 'Transfer-Encoding:'));
        $out = curl_exec($c);
        if ($out === false) { throw new VcsApiProtocolError('Transport: ' . curl_error($c), 110); }
        $status = curl_getinfo($c, CURLINFO_HTTP_CODE);
        if ($status != 200) { throw new VcsApiProtocolError("HTTP: $status", $status); }
        $r = xmlrpc_decode($out);
        if (!is_array($r)) { throw new VcsApiProtocolError('Response format error', 121); }
        if (xmlrpc_is_fault($r)) { throw new VcsApiError($r['faultString'], $r['faultCode']); }
        if (!empty($r['session_id'])) { $this->session_id = $r['session_id']; }
        return new VcsApiResponse($r);
    }
    function file($method, $params, $dir) {
        $params['__api'] = 1;
        $params['auth'] = array('login' => $this->username, 'password' => $this->password);
        $path = tempnam($dir, 'vcs');
        $fh = fopen($path, 'w');
        $headers = array();
        $c = $this->curl($this->files . str_replace('.', '/', $method), http_build_query($params), array());
        curl_setopt($c, CURLOPT_RETURNTRANSFER, 0);
        curl_setopt($c, CURLOPT_FILE, $fh);
        curl_setopt($c, CURLOPT_HEADERFUNCTION, function ($c, $h) use (&$headers) {
            $kv = explode(':', $h, 2);
            if (count($kv) == 2) { $headers[strtolower(trim($kv[0]))] = trim($kv[1]); }
            return strlen($h);
        });
        $ok = curl_exec($c);
        fclose($fh);
        if ($ok === false) { unlink($path); throw new VcsApiProtocolError('Transport: ' . curl_error($c), 110); }
        $status = curl_getinfo($c, CURLINFO_HTTP_CODE);
        if ($status != 200) { unlink($path); throw new VcsApiProtocolError("HTTP: $status", $status); }
        if (isset($headers['x-vcs-status'])) {
            unlink($path);
            throw new VcsApiError($this->files . $method, intval($headers['x-vcs-status']));
        }
        $name = null;
        if (isset($headers['content-disposition']) && preg_match('/filename="([^"]+)"/', $headers['content-disposition'], $m)) { $name = $m[1]; }
        $type = isset($headers['content-type']) ? explode(';', $headers['content-type'])[0] : null;
        return array('file' => $path, 'name' => $name, 'type' => $type);
    }
}

list(, $host, $port, $login, $password, $dir) = $argv;
$plain = isset($argv[6]) && $argv[6] == 'http';
$out = array();
$api = new VcsApi($host, $login, $password, intval($port), $plain);
$r = $api->clients->add(array('name' => 'From PHP'));
$out['added'] = $r->code;
$out['sid'] = $api->session_id !== null;
$shown = $api->clients->editForm(array('id_clients' => $r->data['id']));
$out['name'] = $shown->data['client']['name'];
$out['balance_is_string'] = is_string($shown->data['client']['balance']);
$out['sid_reused'] = $api->session_id;
$out['messages'] = $api->clients->add(array('name' => 'Ignored', 'low_balance_threshold' => '5'))->messages;
try { $api->clients->nope(array()); $out['fault'] = null; }
catch (VcsApiError $e) { $out['fault'] = $e->getCode(); }
$bad = new VcsApi($host, $login, 'wrong-password', intval($port), $plain);
$refused = $bad->clients->editForm(array('id_clients' => $r->data['id']));
$out['refused'] = $refused->code;
$f = $api->file('xdrs.download', array(), $dir);
$out['file'] = array('name' => $f['name'], 'type' => $f['type'], 'first' => strtok(file_get_contents($f['file']), "\n"));
try { $bad->file('xdrs.download', array(), $dir); $out['file_refused'] = null; }
catch (VcsApiProtocolError $e) { $out['file_refused'] = 'protocol ' . $e->getCode(); }
catch (VcsApiError $e) { $out['file_refused'] = $e->getCode(); }
echo json_encode($out), "\n";
