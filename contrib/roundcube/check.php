<?php

/*
 * Runs Roundcube's own code, from Debian's install (roundcube-core, roundcube-plugins), with
 * the settings of contrib/roundcube/config.inc.php against a running congvu: the webmail
 * login (rcmail::login over rcube_imap / rcube_imap_generic), a folder with a Vietnamese
 * name made, the folder list, INBOX and its headers, sending through rcube_smtp with a copy
 * in Sent, the global address book's search (rcube_ldap, as the To: field's autocompletion
 * asks it), and the managesieve plugin's engines: a filter set uploaded, activated and read
 * back, then the out-of-office reply set through the vacation engine the "Out of Office" tab
 * uses.
 *
 *   CONGVU_CHECK_PASSWORD=… CONGVU_CHECK_LDAP_SECRET=… php contrib/roundcube/check.php \
 *       --config contrib/roundcube/config.inc.php --workdir /tmp/rc --host mail.vinhphuc.gov.vn \
 *       --imap-port 2993 --smtp-port 2465 --ldap-port 3636 --sieve-port 24190 \
 *       --cafile data/tls/self-signed-cert.pem \
 *       --user annv --to nhunglth@vinhphuc.gov.vn --search Nhung
 *
 * Only these differ from the shipped file: the host and ports (each URL keeps its scheme),
 * the CA file, the des_key and the service account's secret, and Roundcube's own database,
 * logs and temporary files, kept under --workdir (an SQLite database made there).
 * Passwords come from the environment, never the command line.
 *
 * Prints one line per step, "ok STEP: what was seen" or "FAILED STEP: why", and exits 1 at
 * the first failure. Run it as root or as www-data: the shipped file includes Debian's
 * database settings, readable by those two only.
 */

const CHECK_SUBJECT = 'Lịch họp giao ban tuần 49 (gửi từ Roundcube)';
const CHECK_FILTER_SET = 'roundcube';
const CHECK_FILTER_NAME = 'Công văn đến';
const CHECK_VACATION_SUBJECT = 'Vắng mặt đến hết 15/12';

if (php_sapi_name() != 'cli') {
    exit(1);
}

$CHECK = check_options();
check_prepare_workdir($CHECK);
define('INSTALL_PATH', $CHECK['install']);
define('RCMAIL_CONFIG_DIR', $CHECK['workdir'] . '/config');
// rcube_ldap has no CA setting of its own: libldap reads it from the environment (or
// /etc/ldap/ldap.conf's TLS_CACERT).
putenv('LDAPTLS_CACERT=' . $CHECK['cafile']);

require_once INSTALL_PATH . 'program/include/clisetup.php';

check_database($rcmail);
check_imap($rcmail, $CHECK);
check_smtp($rcmail, $CHECK);
check_ldap($rcmail, $CHECK);
check_filters($rcmail, $CHECK);
check_vacation($rcmail, $CHECK);
exit(0);

function ok($step, $what)
{
    echo "ok $step: $what\n";
}

function fail($step, $why)
{
    echo "FAILED $step: $why\n";
    exit(1);
}

/** The command line and the secrets from the environment. */
function check_options()
{
    $long = ['config:', 'workdir:', 'host:', 'imap-port:', 'smtp-port:', 'ldap-port:',
        'sieve-port:', 'cafile:', 'user:', 'to:', 'search:', 'install:'];
    $given = getopt('', $long);
    foreach (['config', 'workdir', 'cafile', 'user', 'to', 'search'] as $name) {
        if (empty($given[$name])) {
            fail('options', "--$name is missing (see the head of " . __FILE__ . ')');
        }
    }
    $secrets = ['password' => 'CONGVU_CHECK_PASSWORD', 'ldap_secret' => 'CONGVU_CHECK_LDAP_SECRET'];
    foreach ($secrets as $key => $variable) {
        $given[$key] = getenv($variable);
        if ($given[$key] === false || $given[$key] === '') {
            fail('options', "$variable is not set");
        }
    }
    $given['install'] = $given['install'] ?? '/var/lib/roundcube/';
    foreach (['config', 'cafile'] as $file) {
        if (!is_readable($given[$file])) {
            fail('options', "cannot read {$given[$file]}");
        }
        $given[$file] = realpath($given[$file]);
    }
    if (!is_readable($given['install'] . 'program/include/clisetup.php')) {
        fail('options', "no Roundcube in {$given['install']}: apt-get install roundcube-core roundcube-plugins");
    }
    return $given;
}

/**
 * Roundcube's config directory for this run: Debian's defaults, and a config.inc.php that
 * includes the shipped file and then makes the substitutions of check_local().
 */
function check_prepare_workdir($check)
{
    $dir = $check['workdir'];
    foreach (['config', 'logs', 'temp'] as $sub) {
        if (!is_dir("$dir/$sub") && !mkdir("$dir/$sub", 0700, true)) {
            fail('workdir', "cannot make $dir/$sub");
        }
    }
    foreach (['defaults.inc.php', 'mimetypes.php'] as $file) {
        if (!copy($check['install'] . "config/$file", "$dir/config/$file")) {
            fail('workdir', "cannot copy Roundcube's $file");
        }
    }
    if (!is_readable('/etc/roundcube/debian-db.php')) {
        fail('workdir', 'cannot read /etc/roundcube/debian-db.php, which the shipped file includes: run as root or www-data');
    }
    $text = "<?php\n\$config = [];\ninclude " . var_export($check['config'], true) . ";\n"
        . "\$config = check_local(\$config);\n";
    if (file_put_contents("$dir/config/config.inc.php", $text) === false) {
        fail('workdir', "cannot write $dir/config/config.inc.php");
    }
}

/** The shipped settings with this run's host, ports, CA file and secrets. */
function check_local($config)
{
    global $CHECK;
    $ports = ['imap_host' => 'imap-port', 'smtp_host' => 'smtp-port', 'managesieve_host' => 'sieve-port'];
    foreach ($ports as $key => $port) {
        $config[$key] = check_url($config[$key], $CHECK[$port] ?? null);
    }
    foreach (['imap_conn_options', 'smtp_conn_options', 'managesieve_conn_options'] as $key) {
        $config[$key]['ssl']['cafile'] = $CHECK['cafile'];
    }
    foreach ($config['ldap_public'] as $id => $book) {
        $config['ldap_public'][$id]['hosts'] = array_map(
            function ($url) use ($CHECK) { return check_url($url, $CHECK['ldap-port'] ?? null); },
            (array) $book['hosts']
        );
        $config['ldap_public'][$id]['bind_pass'] = $CHECK['ldap_secret'];
    }
    $config['des_key'] = substr(base64_encode(random_bytes(18)), 0, 24);
    $config['db_dsnw'] = 'sqlite:///' . $CHECK['workdir'] . '/roundcube.db?mode=0600';
    $config['log_dir'] = $CHECK['workdir'] . '/logs';
    $config['temp_dir'] = $CHECK['workdir'] . '/temp';
    $config['log_driver'] = 'file';
    return $config;
}

/** `scheme://host:port` with this run's host (when given) and `$port` (when given). */
function check_url($url, $port)
{
    global $CHECK;
    if (!preg_match('!^([a-z]+)://([^:/]+)(?::(\d+))?$!', $url, $m)) {
        fail('config', "not a scheme://host:port URL: $url");
    }
    $host = $CHECK['host'] ?? $m[2];
    $port = $port ?? ($m[3] ?? '');
    return "{$m[1]}://$host" . ($port === '' ? '' : ":$port");
}

/** Roundcube's own database: a new SQLite file gets Roundcube's tables when first opened. */
function check_database($rcmail)
{
    $db = $rcmail->get_dbh();
    $db->db_connect('w');
    if ($db->is_error() || !in_array('users', $db->list_tables(), true)) {
        fail('database', 'no Roundcube tables in ' . $rcmail->config->get('db_dsnw') . ': ' . $db->is_error());
    }
}

/** The webmail login, the folder list, INBOX and the headers of its messages. */
function check_imap($rcmail, $check)
{
    if (!$rcmail->login($check['user'], $check['password'])) {
        $storage = $rcmail->get_storage();
        fail('imap-login', $storage->get_error_str() ?: 'refused');
    }
    ok('imap-login', "{$check['user']} at {$_SESSION['storage_host']}:{$_SESSION['storage_port']} ({$_SESSION['storage_ssl']})");

    // As Settings → Folders makes one: the name in UTF-8, IMAP's modified UTF-7 on the wire.
    $storage = $rcmail->get_storage();
    $folder = rcube_charset::convert(CHECK_FILTER_NAME, RCUBE_CHARSET, 'UTF7-IMAP');
    if (!$storage->folder_exists($folder) && !$storage->create_folder($folder, true)) {
        fail('imap-create', CHECK_FILTER_NAME . ': ' . $storage->get_error_str());
    }
    $folders = $storage->list_folders('', '*', null, null, true);
    $shown = array_map(function ($f) { return rcube_charset::convert($f, 'UTF7-IMAP'); }, $folders);
    if (!in_array('INBOX', $folders, true)) {
        fail('imap-folders', 'no INBOX in ' . implode(' | ', $shown));
    }
    ok('imap-folders', implode(' | ', $shown));

    $storage->set_folder('INBOX');
    $count = $storage->count('INBOX', 'ALL', true);
    $subjects = [];
    foreach ($storage->list_messages('INBOX', 1, 'arrival', 'ASC') as $header) {
        $subjects[] = rcube_mime::decode_header($header->subject, $header->charset);
    }
    if ($count != count($subjects)) {
        fail('imap-inbox', "$count messages, but headers of " . count($subjects));
    }
    ok('imap-inbox', "$count message(s): " . implode(' | ', $subjects));
}

/** A message as the compose page sends it: rcube_smtp, then a copy appended to Sent. */
function check_smtp($rcmail, $check)
{
    $identity = $rcmail->user->get_identity();
    $from = $identity['email'];
    $message_id = $rcmail->gen_message_id($from);
    $message = new Mail_mime([
        'eol' => "\r\n",
        'head_charset' => RCUBE_CHARSET,
        'text_charset' => RCUBE_CHARSET,
        'head_encoding' => 'quoted-printable',
        'text_encoding' => 'quoted-printable',
    ]);
    $message->headers([
        'Date' => $rcmail->user_date(),
        'From' => $from,
        'To' => $check['to'],
        'Subject' => CHECK_SUBJECT,
        'Message-ID' => $message_id,
        'User-Agent' => 'Roundcube Webmail/' . RCMAIL_VERSION,
    ]);
    $message->setTXTBody("Kính gửi chị,\r\nGiao ban lúc 8 giờ thứ Hai tại phòng họp số 2.\r\n");

    $error = null;
    if (!$rcmail->deliver_message($message, $from, $check['to'], $error)) {
        fail('smtp-send', json_encode($error, JSON_UNESCAPED_UNICODE) . ' ' . implode(' ', $rcmail->smtp->get_response()));
    }
    ok('smtp-send', "$from -> {$check['to']} $message_id");

    $sent = $rcmail->config->get('sent_mbox');
    if (!$rcmail->get_storage()->save_message($sent, $message->getMessage(), '', false, ['SEEN'])) {
        fail('imap-sent', "cannot append to $sent: " . $rcmail->get_storage()->get_error_str());
    }
    ok('imap-sent', "copy in $sent");
}

/** The global address book searched as the To: field's autocompletion searches it. */
function check_ldap($rcmail, $check)
{
    $found = [];
    foreach (array_keys((array) $rcmail->config->get('ldap_public')) as $id) {
        $book = $rcmail->get_address_book($id);
        if (!$book || !$book->ready) {
            fail('ldap-search', "address book $id did not connect: " . json_encode($book ? $book->get_error() : null));
        }
        $book->set_pagesize((int) $rcmail->config->get('autocomplete_max', 15));
        $mode = (int) $rcmail->config->get('addressbook_search_mode') | rcube_addressbook::SEARCH_GROUPS;
        $fields = $rcmail->config->get('contactlist_fields');
        $result = $book->search($fields, $check['search'], $mode, true, true, 'email');
        while ($result && ($record = $result->iterate())) {
            foreach ((array) $book->get_col_values('email', $record, true) as $email) {
                $found[] = format_email_recipient($email, rcube_addressbook::compose_list_name($record));
            }
        }
        if ($book->get_error()) {
            fail('ldap-search', "address book $id: " . json_encode($book->get_error()));
        }
    }
    if (!$found) {
        fail('ldap-search', "nobody found for \"{$check['search']}\"");
    }
    ok('ldap-search', "\"{$check['search']}\": " . implode(' | ', $found));
}

/** The managesieve plugin as Roundcube loads it, and an engine of it connected as the official. */
function check_sieve_engine($rcmail, $type, $step)
{
    $plugin = $rcmail->plugins->get_plugin('managesieve');
    if (!$plugin) {
        fail($step, 'the managesieve plugin is not loaded: add it to $config[\'plugins\']');
    }
    $plugin->load_config();
    // get_engine() puts the plugin's classes on the include path.
    $plugin->get_engine();
    $engine = $type === 'vacation' ? new rcube_sieve_vacation($plugin) : check_filters_engine($plugin);
    $error = $engine->connect($_SESSION['username'], $rcmail->decrypt($_SESSION['password']));
    if ($error) {
        fail($step, "cannot connect to " . $rcmail->config->get('managesieve_host') . " (rcube_sieve error $error)");
    }
    return $engine;
}

/**
 * The managesieve plugin's engine with its connection reachable, to do what the Filters page
 * does on save without the page's form. Declared here, once Roundcube and the plugin's
 * classes can be loaded.
 */
function check_filters_engine($plugin)
{
    return new class($plugin) extends rcube_sieve_engine {
        /**
         * Writes `$rules` as a new script `$name`; returns the text stored, or false. A
         * fileinto's target is a folder as IMAP lists it, and becomes the script's folder
         * name as the Filters form's save makes it (managesieve_mbox_encoding).
         */
        public function upload($name, $rules)
        {
            $script = new rcube_sieve_script('', $this->sieve->get_extensions());
            foreach ($rules as $rule) {
                foreach ($rule['actions'] as $i => $action) {
                    if ($action['type'] == 'fileinto') {
                        $rule['actions'][$i]['target'] = $this->mod_mailbox($action['target'], 'in');
                    }
                }
                $script->add_rule($rule);
            }
            $text = $script->as_text();
            return $this->sieve->save_script($name, $text) ? $text : false;
        }

        /**
         * The text the server gives back for `$name`, without the line break after the
         * literal (RFC 5804 §2.9), which Net_Sieve reads with it.
         */
        public function read_back($name)
        {
            $text = $this->sieve->get_script($name);
            return is_string($text) && substr($text, -2) === "\r\n" ? substr($text, 0, -2) : $text;
        }

        /** The rules of `$name` in Roundcube's model, as the Filters page lists them. */
        public function rules($name)
        {
            $this->sieve->load($name);
            return $this->sieve->script ? $this->sieve->script->as_array() : [];
        }
    };
}

/**
 * A filter set as the Filters page saves one: rules in Roundcube's script model, written
 * with its own Sieve writer, uploaded (PUTSCRIPT), activated (SETACTIVE) and read back.
 */
function check_filters($rcmail, $check)
{
    $engine = check_sieve_engine($rcmail, 'filters', 'sieve-connect');
    $before = $engine->list_scripts();
    ok('sieve-connect', 'scripts before: ' . ($before ? implode(' | ', $before) : '(none)'));

    $rule = [
        'name' => CHECK_FILTER_NAME,
        'type' => 'if',
        'join' => false,
        'tests' => [['test' => 'header', 'type' => 'contains', 'arg1' => ['subject'], 'arg2' => 'Công văn']],
        // The folder made in check_imap(), chosen from the form's list of IMAP folders.
        'actions' => [['type' => 'fileinto', 'target' => rcube_charset::convert(CHECK_FILTER_NAME, RCUBE_CHARSET, 'UTF7-IMAP')]],
    ];
    $uploaded = $engine->upload(CHECK_FILTER_SET, [$rule]);
    if ($uploaded === false) {
        fail('sieve-upload', 'PUTSCRIPT refused');
    }
    ok('sieve-upload', CHECK_FILTER_SET . ' (' . strlen($uploaded) . ' bytes)');
    if (!$engine->activate_script(CHECK_FILTER_SET)) {
        fail('sieve-activate', 'SETACTIVE refused');
    }
    $back = $engine->read_back(CHECK_FILTER_SET);
    if ($back !== $uploaded) {
        fail('sieve-read', "GETSCRIPT gave other text:\n$back");
    }
    $names = array_column($engine->rules(CHECK_FILTER_SET), 'name');
    ok('sieve-read', CHECK_FILTER_SET . ' active, rules: ' . implode(' | ', $names));
}

/** The out-of-office reply through the engine of Settings → Out of Office, read back. */
function check_vacation($rcmail, $check)
{
    $engine = check_sieve_engine($rcmail, 'vacation', 'vacation');
    $vacation = [
        'enabled' => true,
        'subject' => CHECK_VACATION_SUBJECT,
        'message' => "Tôi đi công tác đến hết 15/12.\nViệc gấp xin liên hệ chị Nhung.",
        'interval' => $rcmail->config->get('managesieve_vacation_interval') . 'd',
        'addresses' => [],
        'from' => '',
        'action' => 'keep',
        'target' => '',
    ];
    if (!$engine->set_vacation($vacation)) {
        fail('vacation', 'not saved: ' . $engine->get_error());
    }
    $engine = check_sieve_engine($rcmail, 'vacation', 'vacation');
    $read = $engine->get_vacation();
    if (!$read['enabled'] || $read['subject'] !== CHECK_VACATION_SUBJECT) {
        fail('vacation', 'read back as ' . json_encode($read, JSON_UNESCAPED_UNICODE));
    }
    ok('vacation', "on, \"{$read['subject']}\", every {$read['interval']}");
}
