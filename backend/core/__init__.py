"""What every area uses and no area owns: settings, database, errors, rate limits, mail, audit."""
