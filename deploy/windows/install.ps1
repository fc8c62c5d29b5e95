<#
.SYNOPSIS
  Installs PaySync as the Windows service "PaySync" (`paysync serve` under WinSW).

.DESCRIPTION
  1. Creates a venv in -InstallDir and installs PaySync from -Source into it (again: upgrades it).
  2. Creates -DataDir with logs\ and keys\, and writes -DataDir\paysync.env once (never over an
     existing one) with the database, the key file, the log folder and a random QBWC_PASSWORD.
  3. Installs the service from PaySync.xml with WinSW, runs it as its virtual account
     NT SERVICE\PaySync, and limits -DataDir to that account, SYSTEM and Administrators.
  It does not start the service: fill in paysync.env first (docs/operations.md), then
  Start-Service PaySync.

.EXAMPLE
  .\deploy\windows\install.ps1 -Source C:\src\paysync -WinSW C:\Downloads\WinSW-x64.exe
  .\deploy\windows\install.ps1 -Source C:\src\paysync -WinSW C:\Downloads\WinSW-x64.exe -Postgres
#>
#Requires -RunAsAdministrator
[CmdletBinding()]
param(
    # The PaySync source folder (with pyproject.toml) or a wheel file.
    [Parameter(Mandatory = $true)] [string] $Source,
    # WinSW-x64.exe (v2.12 or newer) from https://github.com/winsw/winsw/releases
    [Parameter(Mandatory = $true)] [string] $WinSW,
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'PaySync'),
    [string] $DataDir = (Join-Path $env:ProgramData 'PaySync'),
    [string] $PythonVersion = '3.11',
    # Also install PostgreSQL's driver (PAYSYNC_DATABASE_URL=postgresql://...).
    [switch] $Postgres
)

$ErrorActionPreference = 'Stop'
$ServiceName = 'PaySync'
$ServiceAccount = "NT SERVICE\$ServiceName"

function Stop-Install([string] $Message) {
    [Console]::Error.WriteLine("install.ps1: $Message")
    exit 2
}

if (-not (Test-Path -LiteralPath $Source)) {
    Stop-Install "no PaySync source at $Source. Give the folder that holds pyproject.toml, or a .whl file."
}
if (-not (Test-Path -LiteralPath $WinSW -PathType Leaf)) {
    Stop-Install "no WinSW at $WinSW. Download WinSW-x64.exe from https://github.com/winsw/winsw/releases and give its path."
}
$Template = Join-Path $PSScriptRoot 'PaySync.xml'
if (-not (Test-Path -LiteralPath $Template -PathType Leaf)) {
    Stop-Install "PaySync.xml is not next to install.ps1 ($PSScriptRoot): run the script from deploy\windows of PaySync."
}

# -- 1. The venv and PaySync ------------------------------------------------------------------------
New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
$Venv = Join-Path $InstallDir '.venv'
$Python = Join-Path $Venv 'Scripts\python.exe'
if (-not (Test-Path -LiteralPath $Python)) {
    & py "-$PythonVersion" -m venv $Venv
    if ($LASTEXITCODE -ne 0) {
        Stop-Install "could not create a venv with 'py -$PythonVersion'. Install Python $PythonVersion or newer for all users (python.org, with the py launcher) and run this again."
    }
}
$Requirement = if ($Postgres) { "$($Source)[postgres]" } else { $Source }
& $Python -m pip install --quiet --upgrade $Requirement
if ($LASTEXITCODE -ne 0) { Stop-Install "pip could not install $Requirement (its messages are above)." }

# -- 2. The data folder and the configuration --------------------------------------------------------
$Logs = Join-Path $DataDir 'logs'
$Keys = Join-Path $DataDir 'keys'
New-Item -ItemType Directory -Force -Path $Logs, $Keys | Out-Null
$EnvFile = Join-Path $DataDir 'paysync.env'
$NewPassword = $null
if (-not (Test-Path -LiteralPath $EnvFile)) {
    $Bytes = New-Object byte[] 24
    [Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($Bytes)
    $NewPassword = [Convert]::ToBase64String($Bytes) -replace '[+/=]', ''
    $Database = (Join-Path $DataDir 'paysync.db') -replace '\\', '/'
    $Lines = @(
        '# PaySync service configuration (docs/operations.md). Every key is described in .env.example.',
        "PAYSYNC_DATABASE_URL=sqlite:///$Database",
        "PAYSYNC_KEY_FILE=$(Join-Path $Keys 'secret.key')",
        "PAYSYNC_LOG_FOLDER=$Logs",
        '# Type this password into the QuickBooks Web Connector for PaySync.',
        "QBWC_PASSWORD=$NewPassword",
        '# Your Procore app and company (docs/procore.md):',
        '# PROCORE_CLIENT_ID=',
        '# PROCORE_CLIENT_SECRET=',
        '# PROCORE_COMPANY_ID=',
        '# A Web Connector on another machine needs TLS (docs/operations.md "TLS"):',
        '# QBWC_HOST=0.0.0.0',
        '# QBWC_TLS_CERT=C:\ProgramData\PaySync\keys\cert.pem',
        '# QBWC_TLS_KEY=C:\ProgramData\PaySync\keys\key.pem',
        '# QBWC_PUBLIC_URL=https://paysync.example.com:8085/qbwc'
    )
    Set-Content -LiteralPath $EnvFile -Value $Lines -Encoding UTF8
}

# -- 3. The service ------------------------------------------------------------------------------
$ServiceExe = Join-Path $InstallDir "$ServiceName.exe"
$Existing = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($Existing -and $Existing.Status -ne 'Stopped') {
    Stop-Service -Name $ServiceName  # WinSW sends Ctrl+C: a clean stop
}
Copy-Item -LiteralPath $WinSW -Destination $ServiceExe -Force
$Xml = (Get-Content -LiteralPath $Template -Raw).Replace('{INSTALL_DIR}', $InstallDir).Replace('{DATA_DIR}', $DataDir)
Set-Content -LiteralPath (Join-Path $InstallDir "$ServiceName.xml") -Value $Xml -Encoding UTF8
if (-not $Existing) {
    & $ServiceExe install
    if ($LASTEXITCODE -ne 0) { Stop-Install "WinSW could not install the service (exit $LASTEXITCODE); see the Windows event log." }
}
# Its own virtual account: no password to manage, and no rights beyond what is granted below.
& sc.exe config $ServiceName obj= $ServiceAccount | Out-Null
if ($LASTEXITCODE -ne 0) { Stop-Install "could not make the service run as $ServiceAccount (sc.exe exit $LASTEXITCODE)." }

# File modes do not apply on Windows: the data folder's ACL keeps the database, the key and the
# logs to the service, SYSTEM and Administrators (docs/security.md).
& icacls $DataDir /inheritance:r /grant:r "${ServiceAccount}:(OI)(CI)M" 'NT AUTHORITY\SYSTEM:(OI)(CI)F' 'BUILTIN\Administrators:(OI)(CI)F' | Out-Null
if ($LASTEXITCODE -ne 0) { Stop-Install "icacls could not restrict $DataDir (exit $LASTEXITCODE)." }
& icacls $InstallDir /grant "${ServiceAccount}:(OI)(CI)RX" | Out-Null

Write-Host "PaySync is installed as the service '$ServiceName' (account $ServiceAccount)."
Write-Host "  Program:       $InstallDir"
Write-Host "  Configuration: $EnvFile"
Write-Host "  Logs:          $Logs"
if ($NewPassword) {
    Write-Host "  Web Connector password (shown once; it is in paysync.env): $NewPassword"
}
Write-Host "Next: fill in $EnvFile (Procore app; QBWC_HOST and TLS for a Web Connector on another machine),"
Write-Host "check it with: & '$Python' -m console --env-file '$EnvFile' status"
Write-Host "then: Start-Service $ServiceName"
